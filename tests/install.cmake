# Installation: library, headers, pkg-config file and CLI (skipped in the
# sanitizer build, whose library needs the sanitizer runtime to link).
if(NOT PE_SANITIZE AND TARGET persona_cli)
  add_test(NAME install_pkgconfig
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_install.sh ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER})
  set_tests_properties(install_pkgconfig PROPERTIES LABELS unit TIMEOUT 300)
endif()

# What libpersona.so exports is what the installed headers declare (PE_API).
if(NOT PE_SANITIZE)
  add_test(NAME exports COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_exports.sh ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER})
  set_tests_properties(exports PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()
