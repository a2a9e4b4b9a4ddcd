# libpersona: every module's objects in one shared library, installed with
# the public headers and a pkg-config file. Modules register themselves with
# pe_module() (see util/CMakeLists.txt) which appends to PE_MODULES.
get_property(pe_modules GLOBAL PROPERTY PE_MODULES)
get_property(pe_headers GLOBAL PROPERTY PE_PUBLIC_HEADERS)
set(pe_objs)
foreach(m ${pe_modules})
  list(APPEND pe_objs $<TARGET_OBJECTS:${m}>)
endforeach()
add_library(persona SHARED ${pe_objs})
foreach(m ${pe_modules})
  target_link_libraries(persona PRIVATE $<TARGET_PROPERTY:${m},INTERFACE_LINK_LIBRARIES>)
endforeach()
set_target_properties(persona PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
install(TARGETS persona LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${pe_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/persona)
# Relocatable: the prefix is found from the .pc file's own folder.
file(RELATIVE_PATH PE_PC_RELPREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" PE_PC_RELPREFIX "${PE_PC_RELPREFIX}")
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/persona.pc.in ${CMAKE_CURRENT_BINARY_DIR}/persona.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/persona.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
