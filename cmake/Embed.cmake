# turnpike_embed(OUT_CC NAMESPACE ns VARIABLE var HEADER h.h BASE dir FILES f1 f2 ...)
# Generates a C++ source that includes h.h (which declares struct ns::EmbeddedFile
# {const char* path; const char* data; std::size_t size;}) and defines
#   const EmbeddedFile ns::var[]; const std::size_t ns::var_count;
# holding each file's path (relative to BASE) and bytes, so the binary carries them.
function(turnpike_embed out_cc)
  cmake_parse_arguments(E "" "NAMESPACE;VARIABLE;BASE;HEADER" "FILES" ${ARGN})
  set(script ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake)
  add_custom_command(
    OUTPUT ${out_cc}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cc} -DNS=${E_NAMESPACE} -DVAR=${E_VARIABLE}
            -DBASE=${E_BASE} -DHEADER=${E_HEADER} "-DFILES=${E_FILES}" -P ${script}
    DEPENDS ${E_FILES} ${script}
    COMMENT "Embedding ${E_VARIABLE}"
    VERBATIM)
endfunction()
