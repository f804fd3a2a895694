{
  "targets": [
    {
      "target_name": "superficial_native",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(node ../scripts/native/dnnl-dirs.js include)"],
      "libraries": ["<!@(node ../scripts/native/dnnl-dirs.js libflags)", "-ldnnl"],
      "ldflags": ["<!@(node ../scripts/native/dnnl-dirs.js rpath)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "<!@(node ../scripts/native/dnnl-dirs.js march)"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3"]
      }
    }
  ]
}
