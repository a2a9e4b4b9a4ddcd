pe_add_test(test_kgstore SOURCES test_kgstore.c LIBS pe_kgstore pe_util LABELS unit)
# persona kg stats|lookup|entity|types through the built CLI (skips without it)
pe_add_test(test_kgstore_cli SOURCES test_kgstore_cli.c LIBS pe_kgstore pe_util pe_dep_cjson LABELS unit)
