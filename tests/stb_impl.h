// stb_impl.h - stb_image (and stb_image_resize) implementations for a test
// executable. Include it in exactly one file of the executable; each
// tests/test_*.c is its own executable. stb is Debian's libstb-dev; its
// code draws warnings that facet's flags would show, so they are silenced
// here only.
#ifndef FACET_TEST_STB_IMPL_H
#define FACET_TEST_STB_IMPL_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#include <stb/stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

#endif
