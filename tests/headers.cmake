# Every installed public header compiles alone, as C11 and C++-safe C, with
# -Wall -Wextra -pedantic -Werror (STYLE.md: the header is the contract).
get_property(pe_public_headers GLOBAL PROPERTY PE_PUBLIC_HEADERS)
set(pe_hdr_includes)
foreach(h ${pe_public_headers})
  get_filename_component(d ${h} DIRECTORY)
  list(APPEND pe_hdr_includes -I${d})
endforeach()
list(REMOVE_DUPLICATES pe_hdr_includes)
foreach(h ${pe_public_headers})
  get_filename_component(n ${h} NAME_WE)
  add_test(NAME header_${n}
           COMMAND ${CMAKE_C_COMPILER} -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only
                   ${pe_hdr_includes} -x c ${h})
  set_tests_properties(header_${n} PROPERTIES LABELS unit)
endforeach()
