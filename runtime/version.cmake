# version.cmake - writes OUT, defining TILE_COMPILER_VERSION as the SHA-256
# of every compiler source (support/, ir/, frontend/, compiler/, codegen/, by path
# relative to SRC and content).  It is part of every kernel-cache key, so
# any change to the compiler, committed or not, misses the old entries.
# Run by a build rule (runtime/CMakeLists.txt) whenever a source changes.
file(GLOB_RECURSE srcs RELATIVE ${SRC}
     ${SRC}/support/*.c ${SRC}/support/*.h ${SRC}/ir/*.c ${SRC}/ir/*.h ${SRC}/frontend/*.c ${SRC}/frontend/*.h
     ${SRC}/frontend/*.l ${SRC}/frontend/*.y ${SRC}/compiler/*.c ${SRC}/compiler/*.h
     ${SRC}/codegen/*.c ${SRC}/codegen/*.h)
list(SORT srcs)
set(acc "")
foreach(f ${srcs})
  file(SHA256 ${SRC}/${f} h)
  string(APPEND acc "${f} ${h}\n")
endforeach()
string(SHA256 version "${acc}")
file(WRITE ${OUT}.tmp "#define TILE_COMPILER_VERSION \"${version}\"\n")
configure_file(${OUT}.tmp ${OUT} COPYONLY) # rewrites only a changed file
