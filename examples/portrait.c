// portrait.c - the face front end on one photo, step by step as a library
// user calls it: decode the photo (EXIF orientation applied), find the
// subject's face, its 68 landmarks, the aligned crops and the part labels,
// then save the 224x224 backbone crop and print what was found.
//
//   make examples && build/o1d0s0n0/examples/portrait PHOTO [CROP.png]
//
// Needs the weights (make weights); FACET_WEIGHTS names another folder.
#include <stdio.h>
#include <stdlib.h>

#include "../face/image.h"
#include "../face/portrait.h"

int main(int argc, char **argv)
{
    const char *weights = getenv("FACET_WEIGHTS");
    face_frontend_opts opts;
    face_frontend *fe = NULL;
    face_image photo = {0};
    face_portrait p;
    facet_status st;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PHOTO [CROP.png]\n", argv[0]);
        return 2;
    }
    // Defaults: detect (a square photo without a face is taken as an
    // aligned crop), the subject rule, the hair network and the parts.
    face_frontend_defaults(&opts);
    if ((st = face_frontend_open(&fe, weights ? weights : "weights",
                                 &opts)) ||
        (st = face_image_load(&photo, argv[1], NULL)) ||
        (st = face_portrait_run(fe, &photo, &p))) {
        fprintf(stderr, "portrait: %s\n", facet_error());
        face_image_free(&photo);
        face_frontend_close(fe);
        return 1;
    }

    printf("%s: %dx%d, %d face(s)", argv[1], p.photo_w, p.photo_h,
           p.nfaces);
    if (p.how == FACE_FOUND_DETECTED)
        printf(", subject %d (score %.3f)\n", p.subject,
               p.faces[p.subject].score);
    else
        printf(", taken as an aligned crop\n");
    // Landmarks are in the photo's frame; 36 and 45 are the outer eye
    // corners in dlib's numbering.
    printf("eye corners: (%.1f, %.1f) (%.1f, %.1f)\n", p.lm[2 * 36],
           p.lm[2 * 36 + 1], p.lm[2 * 45], p.lm[2 * 45 + 1]);
    // The part labels partition the 224x224 backbone crop (and the head
    // crop, in p.head_labels): one label per pixel.
    long count[FACE_PART_COUNT] = {0};
    for (int i = 0; i < 224 * 224; i++)
        count[p.labels[i]]++;
    for (int k = 0; k < FACE_PART_COUNT; k++)
        printf("%-10s %5.1f%% of the backbone crop\n",
               face_part_name((face_part)k), 100.0 * count[k] / (224 * 224));
    printf("seconds: detect %.3f, landmarks %.3f, align %.3f, hair %.3f, "
           "parts %.3f\n", p.seconds[FACE_STAGE_DETECT],
           p.seconds[FACE_STAGE_LANDMARKS], p.seconds[FACE_STAGE_ALIGN],
           p.seconds[FACE_STAGE_HAIR], p.seconds[FACE_STAGE_PARTS]);

    st = FACET_OK;
    if (argc == 3) {
        const face_image *c = &p.crop[FACE_CROP_BACKBONE];

        st = face_image_write_png(argv[2], c->px, c->w, c->h, 3, c->stride);
        if (st)
            fprintf(stderr, "portrait: %s\n", facet_error());
    }
    face_portrait_free(&p);
    face_image_free(&photo);
    face_frontend_close(fe);
    return st ? 1 : 0;
}
