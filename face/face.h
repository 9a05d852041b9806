// face.h - the types every stage of facet's face pipeline shares: an 8-bit
// RGB image, a 2-D affine transform between image frames, the crops facet
// samples from a photo, and the face-part labels.
//
// The pipeline, one file per stage under face/:
//   image.c      photo file -> face_image (EXIF orientation, any format)
//   detect.c     face_image -> scored face boxes, the subject's box
//   landmarks.c  box -> 68 points (dlib's ERT model)
//   align.c      68 points -> transforms to the canonical crops, warps
//   segment.c    multilabel colour segmentation (Nieuwenhuis-Cremers)
//   parts.c      landmarks + hair probability + colours -> part labels
//   features.c   crops -> the backbone and hair feature maps (cached)
//   metric.c     hinge-loss metric learning (M, M_H)
//   cam.c        the CAM baseline (a two-class softmax on pooled features)
//   pcam.c       PCAM maps, representative portraits, characteristic parts
//
// Frames: a "photo" frame is the pixel grid of the loaded image after its
// EXIF orientation is applied; a "crop" frame is the pixel grid of one of
// the canonical crops below. Pixel centres are at integer coordinates:
// pixel (x, y) covers [x - 0.5, x + 0.5) x [y - 0.5, y + 0.5).
#ifndef FACET_FACE_H
#define FACET_FACE_H

#include <stdint.h>
#include <stddef.h>

#include "../linalg/base.h"

// Number of landmarks (iBUG-68 order, as dlib's model and face-api's).
#define FACE_LANDMARKS 68

// An 8-bit RGB image, interleaved R, G, B; rows `stride` bytes apart
// (stride >= 3 * w). The pixels are owned by whoever allocated them;
// face_image_alloc / face_image_free (image.h) manage owned images.
typedef struct face_image {
    int w, h;
    size_t stride;
    uint8_t *px;
} face_image;

// An affine map between two frames: (x, y) -> (m[0] x + m[1] y + m[2],
// m[3] x + m[4] y + m[5]). A similarity has m[0] = m[4], m[1] = -m[3].
typedef struct face_xform {
    double m[6];
} face_xform;

// The canonical crops (align.h makes them).
typedef enum face_crop_kind {
    FACE_CROP_BACKBONE = 0,  // 224x224, the face-identity backbone's input
    FACE_CROP_DLIB150,       // 150x150, dlib's ResNet descriptor framing
    FACE_CROP_HEAD,          // 512x512, a loose head crop that keeps the
                             // hair, the hair network's input
    FACE_CROP_COUNT
} face_crop_kind;

// Face-part labels. A part label map has exactly one label per pixel, so
// the parts partition the crop.
typedef enum face_part {
    FACE_PART_BACKGROUND = 0,
    FACE_PART_BASE,          // skin of the face outside the parts below
    FACE_PART_HAIR,
    FACE_PART_EYES,
    FACE_PART_BROWS,
    FACE_PART_NOSE,
    FACE_PART_MOUTH,
    FACE_PART_COUNT
} face_part;

// Short lower-case names: "background", "base", "hair", "eyes",
// "eyebrows", "nose", "mouth"; NULL for a value out of range.
const char *face_part_name(face_part p);

#endif
