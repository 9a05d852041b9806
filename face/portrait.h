// portrait.h - one photo through the whole front end: faces, the subject,
// its 68 landmarks, the canonical crops, p(hair) and the part labels.
// `facet align` writes what this computes; `facet characterize` starts
// from it.
//
// Steps (each a module of face/, timed in face_portrait.seconds):
//   detect     every face with a score (detect.h); the subject by the
//              rule of face_pick_subject, or the face the caller names
//   landmarks  dlib's 68-point model on the subject's calibrated box
//              (landmarks.h), then again on the box those landmarks imply
//              (face_box_from_landmarks, detect.h): dlib's model was
//              trained on its own detector's boxes, and the box derived
//              from its landmarks is closer to those than a box
//              calibrated from the SSD's. On the 152 held-out LFW photos
//              of detect.c's calibration, the error against dlib's own
//              landmarks falls from a median 0.0101 to 0.0089 of the
//              inter-ocular distance (mean 0.0295 -> 0.0214, 90th
//              percentile 0.0253 -> 0.0162; dlib's own round trip, its
//              landmarks -> box -> landmarks, gives 0.0092): `detect_eval
//              fit`, "built-in, second pass"
//   align      similarity transforms to the backbone crop (224x224) and
//              the head crop (512x512), and both crops sampled (align.h)
//   hair       the hair network on the head crop: p(hair) and, when
//              asked, the hair-sensitive feature map (features.h)
//   parts      the part label map in the head crop (parts.h: landmark
//              polygons, hair restricted to the head, the face base by
//              colour segmentation), carried into the backbone crop
//   photo hair (opts.photo_hair) the hair network on the whole photo
//              (stretched to 512x512), p(hair) > 0.5 carried back to the
//              photo: the hair mask in the photo frame (below)
//
// The photo-frame hair mask (face_portrait.photo_hair). The head crop
// cuts long hair (on figaro/ 23% of the true hair lies outside it), so
// the photo-frame mask comes from the network on the whole photo instead:
// the photo stretched to the network's 512x512 input (a zero 4th
// channel), p(hair) carried back to the photo bilinearly, hair where
// p > parts_opts.hair_threshold (0.5), then restricted to the head region
// exactly as the head-crop hair label is (face_parts_hair with the photo's
// landmarks: the 8-connected hair regions that touch the convex hull of
// the landmarks and the mirrored jaw grown by a quarter face width are
// kept, the rest dropped). A region is kept whole, so long hair far below
// the head stays. When the kept regions hold less than
// opts.photo_hair_min_kept (0.05) of the unrestricted mask's pixels, the
// face found is taken not to be the hair's owner (a bystander or a false
// detection: on figaro/ two photos of hair seen from behind have a small
// face in a corner whose head region touches none of the hair) and the
// unrestricted mask is kept instead (face_portrait.photo_hair_unrestricted
// says so); 0 turns this off. This rule was chosen after seeing those
// two photos; a bald subject before hair-like background gets the
// background as hair by it. Photos without a face get the unrestricted
// mask from face_portrait_hair_only. Its time is counted in the "hair"
// stage.
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
    int landmark_passes;   // 2 (default): landmarks again from the box
                           // the first ones imply; 1: from the detector's
                           // calibrated box only (1..4)
    int hair;              // run the hair network (needed for parts)
    int parts;             // compute the part labels
    const char *hair_layer;   // f^H layer, NULL: features.h's default
    int hair_features;     // keep f^H in face_portrait.hair_feat
    face_parts_opts parts_opts;
    int photo_hair;        // also the photo-frame hair mask (needs hair)
    double photo_hair_min_kept;   // the unrestricted-mask fallback (0.05)
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
    uint8_t *photo_hair;     // photo_w x photo_h 0/1 hair mask, photo
                             // frame (opts.photo_hair), or NULL
    int photo_hair_unrestricted;   // 1: the head region kept too little
                                   // and photo_hair is unrestricted
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

// The unrestricted photo-frame hair mask, for a photo without a face:
// p(hair) > parts_opts.hair_threshold of the network on the whole photo
// (as for face_portrait.photo_hair, without the head-region restriction)
// into mask (photo->w x photo->h bytes, 0/1). Needs opts.hair.
facet_status face_portrait_hair_only(face_frontend *fe,
                                     const face_image *photo, uint8_t *mask);

#endif
