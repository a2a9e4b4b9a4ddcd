# pe_module(NAME HEADER hdr SOURCES src... DEPS target...)
# Declares one module: a static library target NAME built from SOURCES,
# whose public header HEADER is installed, linked to DEPS.
function(pe_module name)
  cmake_parse_arguments(M "" "" "HEADERS;SOURCES;DEPS" ${ARGN})
  if(NOT M_SOURCES)
    message(FATAL_ERROR "module ${name}: no sources")
  endif()
  add_library(${name} STATIC ${M_SOURCES})
  # Only what the installed headers declare with PE_API leaves libpersona.so.
  set_target_properties(${name} PROPERTIES C_VISIBILITY_PRESET hidden CUDA_VISIBILITY_PRESET hidden)
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${M_DEPS})
  set_property(GLOBAL APPEND PROPERTY PE_MODULES ${name})
  foreach(h ${M_HEADERS})
    set_property(GLOBAL APPEND PROPERTY PE_PUBLIC_HEADERS ${CMAKE_CURRENT_SOURCE_DIR}/${h})
  endforeach()
endfunction()
