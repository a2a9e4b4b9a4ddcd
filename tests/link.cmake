# Entity linker (fusion/pe_link.h) on a fixture graph imported in the test.
if(TARGET pe_fusion AND TARGET pe_importers)
  pe_add_test(test_link SOURCES test_link.c LIBS pe_fusion pe_importers pe_kgstore pe_util LABELS unit)
endif()
