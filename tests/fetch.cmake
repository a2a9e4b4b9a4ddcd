# Downloads and wbgetentities fetches (importers/fetch.c) against the local
# test server tests/tools/http_server.py (127.0.0.1 only; skips without python3).
pe_add_test(test_fetch SOURCES test_fetch.c LIBS pe_importers pe_kgstore pe_util LABELS unit)
set_tests_properties(test_fetch PROPERTIES TIMEOUT 120)
