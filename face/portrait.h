// portrait.h - one photo through the whole front end: faces, the subject,
// its 68 landmarks, the canonical crops, p(hair) and the part labels.
// `facet align` writes what this computes; `facet characterize` starts
// from it.
//
// Steps (each a module of face/, timed in face_portrait.seconds):
//   detect     every face with a score (detect.h); the subject by the
//              rule of face_pick_subject, or the face the caller names
//   landmarks  dlib's 68-point model on the subject's calibrated box
//              (landmarks.h)
//   align      similarity transforms to the backbone crop (224x224) and
//              the head crop (512x512), and both crops sampled (align.h)
//   hair       the hair network on the head crop: p(hair) and, when
//              asked, the hair-sensitive feature map (features.h)
//   parts      the part label map in the head crop (parts.h: landmark
//              polygons, hair restricted to the head, the face base by
//              colour segmentation), carried into the backbone crop
//
// Already aligned crops (a face filling a square frame, as in
// ../shared/data/aligned112): with FACE_ALIGNED_YES detection is skipped
// and the landmark box of a tight crop is used (face_aligned_box); with
// FACE_ALIGNED_AUTO that happens only when the detector finds no face in a
// photo whose sides differ by at most 10% and are at least 32 pixels (a
// smaller one is refused in both modes), and the portrait records it
// (how = FACE_FOUND_ASSUMED).
//
// Limitations:
// - One photo at a time, batch 1 through every network; a front end is
//   not thread-safe (it owns the networks' activations).
// - The part labels are computed in the head crop at the segmentation's
//   working resolution (parts.h) and carried into the backbone crop by
//   nearest-neighbour sampling, so part edges there are as coarse as
//   about 1 backbone pixel.
#ifndef FACET_FACE_PORTRAIT_H
#define FACET_FACE_PORTRAIT_H

#include "face.h"
#include "detect.h"
#include "landmarks.h"
#include "parts.h"

// Most faces a portrait lists.
#define FACE_PORTRAIT_MAX_FACES 32

typedef enum face_aligned_mode {
    FACE_ALIGNED_AUTO = 0,   // detect; a square photo without a face is
                             // taken as an aligned crop
    FACE_ALIGNED_YES,        // the photo is an aligned crop: no detection
    FACE_ALIGNED_NO          // detect; no face is an error
} face_aligned_mode;

// How the subject's box was found.
typedef enum face_found {
    FACE_FOUND_DETECTED = 0,   // by the detector
    FACE_FOUND_ASSUMED         // the photo taken as an aligned crop
} face_found;

typedef struct face_frontend_opts {
    face_aligned_mode aligned;
    int face_index;        // -1: the subject rule; k >= 0: the k-th face
                           // in score order
    double min_score;      // detector threshold (FACE_DETECT_MIN_SCORE)
    int hair;              // run the hair network (needed for parts)
    int parts;             // compute the part labels
    const char *hair_layer;   // f^H layer, NULL: features.h's default
    int hair_features;     // keep f^H in face_portrait.hair_feat
    face_parts_opts parts_opts;
} face_frontend_opts;

void face_frontend_defaults(face_frontend_opts *o);

// Stage timings, seconds, in face_portrait.seconds.
enum {
    FACE_STAGE_DETECT = 0,
    FACE_STAGE_LANDMARKS,
    FACE_STAGE_ALIGN,
    FACE_STAGE_HAIR,
    FACE_STAGE_PARTS,
    FACE_STAGE_COUNT
};
// "detect", "landmarks", "align", "hair", "parts".
const char *face_stage_name(int stage);

typedef struct face_portrait {
    int photo_w, photo_h;
    int nfaces;                              // faces listed (capped)
    face_det faces[FACE_PORTRAIT_MAX_FACES]; // best score first
    int subject;        // index into faces, -1 when assumed aligned
    face_found how;
    face_landmarks_box box;          // the landmark box, photo frame
    float lm[2 * FACE_LANDMARKS];    // landmarks, photo frame
    // Photo -> crop transforms of every kind; crops of the backbone and
    // head kinds (owned).
    face_xform to_crop[FACE_CROP_COUNT];
    face_image crop[FACE_CROP_COUNT];
    float *hair_prob;        // 512 x 512 p(hair), head frame, or NULL
    float *hair_feat;        // f^H (hair_feat_dim floats) or NULL
    size_t hair_feat_dim;
    uint8_t *head_labels;    // 512 x 512 face_part labels, or NULL
    uint8_t *labels;         // 224 x 224 labels, backbone frame, or NULL
    face_parts_info parts_info;
    double seconds[FACE_STAGE_COUNT];
} face_portrait;

typedef struct face_frontend face_frontend;

// Open the networks the options need from `weights_dir`
// (ssd_mobilenetv1.fct, dlib_landmarks68.fct, hair_segmentation.fct);
// errors name the missing or broken file. The options are copied.
facet_status face_frontend_open(face_frontend **out, const char *weights_dir,
                                const face_frontend_opts *o);
void face_frontend_close(face_frontend *fe);   // NULL is harmless

// The hair network of the front end (NULL when opts.hair is 0), for its
// shape and model id.
const struct face_hairnet *face_frontend_hairnet(const face_frontend *fe);

// Run the front end on one photo. FACET_E_NOT_FOUND when no face is found
// (or face_index names none); the detail says which and how many faces
// there were. On failure *p holds nothing to free.
facet_status face_portrait_run(face_frontend *fe, const face_image *photo,
                               face_portrait *p);
void face_portrait_free(face_portrait *p);   // NULL is harmless

#endif
