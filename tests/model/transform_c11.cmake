# Copies a source file (runtime/, sync/) for the relacy models, rewriting the one C11 spelling C++
# cannot parse: the qualifier form `_Atomic T` becomes `_Atomic(T)`, which
# relacy_c11.hpp maps to rl::atomic<T>. Nothing else is changed, and a #line keeps
# compiler messages and relacy's histories pointing at the real file.
#   cmake -DSRC=<runtime/ or sync/ file> -DDST=<copy> -P transform_c11.cmake
file(READ "${SRC}" text)
string(REGEX REPLACE "_Atomic[ \t]+([A-Za-z_][A-Za-z0-9_]*)" "_Atomic(\\1)" text "${text}")
set(text "#line 1 \"${SRC}\"\n${text}")
set(old "")
if(EXISTS "${DST}")
  file(READ "${DST}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${DST}" "${text}")
endif()
