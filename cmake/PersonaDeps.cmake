# Finds the Debian-packaged dependencies. Each is an imported target named
# pe_dep_<name> so that modules link what they use and nothing more.
find_package(PkgConfig REQUIRED)

function(pe_pkg name module)
  pkg_check_modules(${name} REQUIRED IMPORTED_TARGET ${module})
  add_library(pe_dep_${name} INTERFACE IMPORTED GLOBAL)
  target_link_libraries(pe_dep_${name} INTERFACE PkgConfig::${name})
endfunction()

pe_pkg(lmdb lmdb)
pe_pkg(raptor raptor2)
pe_pkg(cjson libcjson)
pe_pkg(curl libcurl)
pe_pkg(nettle nettle)
pe_pkg(utf8proc libutf8proc)
pe_pkg(zlib zlib)

# libbz2 ships no .pc file on Debian 12.
find_package(BZip2 REQUIRED)
add_library(pe_dep_bz2 INTERFACE IMPORTED GLOBAL)
target_link_libraries(pe_dep_bz2 INTERFACE BZip2::BZip2)

# OpenBLAS: Debian's pkg-config name is openblas.
pkg_check_modules(openblas IMPORTED_TARGET openblas)
if(NOT openblas_FOUND)
  message(FATAL_ERROR "OpenBLAS not found: apt-get install libopenblas-dev")
endif()
add_library(pe_dep_openblas INTERFACE IMPORTED GLOBAL)
target_link_libraries(pe_dep_openblas INTERFACE PkgConfig::openblas)

find_package(Threads REQUIRED)
