# facet - face characterization in plain C11.
#
#   make                 static library build/libfacet.a and the facet program
#   make test            build and run every tests/test_*.c; ends "N passed, N failed"
#   make weights         fetch, verify and convert the pretrained weights
#   make lint            line width and whitespace checks
#   make clean
#
# Switches (make VAR=1): OPENMP=1 (default; OPENMP=0 builds single-threaded),
# DEBUG=1 (-O0 -g), SANITIZE=1 (address + undefined), NATIVE=1 (-march=native).
# Each combination builds in its own folder under build/.

OPENMP   ?= 1
DEBUG    ?= 0
SANITIZE ?= 0
NATIVE   ?= 0

CC      ?= cc
CFLAGS_BASE = -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -pipe \
              -fno-strict-aliasing -D_POSIX_C_SOURCE=200809L
LDLIBS  = -lz -lm

variant := build/o$(OPENMP)d$(DEBUG)s$(SANITIZE)n$(NATIVE)
ifeq ($(DEBUG),1)
  OPT = -O0 -g3
else
  OPT = -O2 -g
endif
ifeq ($(OPENMP),1)
  OMPFLAGS = -fopenmp
endif
ifeq ($(SANITIZE),1)
  SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
endif
ifeq ($(NATIVE),1)
  ARCH = -march=native
endif

CFLAGS  = $(CFLAGS_BASE) $(OPT) $(OMPFLAGS) $(SANFLAGS) $(ARCH) $(EXTRA_CFLAGS)
LDFLAGS = $(OMPFLAGS) $(SANFLAGS)

# Per-ISA kernel files alone get instruction-set flags.
ISA_avx2   = -mavx2 -mfma
ISA_avx512 = -mavx512f -mavx512vl -mavx512dq -mavx2 -mfma

# Library sources: every .c under the module folders and their kernels/.
MODULES  = linalg nn weights face
LIB_SRC  = $(wildcard $(addsuffix /*.c,$(MODULES)) $(addsuffix /kernels/*.c,$(MODULES)))
LIB_OBJ  = $(LIB_SRC:%.c=$(variant)/%.o)
CLI_SRC  = $(wildcard tools/cli/*.c)
CLI_OBJ  = $(CLI_SRC:%.c=$(variant)/%.o)
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(variant)/tests/%)
# Converters: each tools/convert/convert_*.c is a program; the other .c files
# there are shared by all of them. They may use cJSON (Debian libcjson-dev)
# to read the JSON manifests of the original formats; the facet program uses
# it to write its JSON reports; the library does not (README, Dependencies).
CONV_MAIN = $(wildcard tools/convert/convert_*.c)
CONV_LIB  = $(filter-out $(CONV_MAIN),$(wildcard tools/convert/*.c))
CONV_OBJ  = $(CONV_LIB:%.c=$(variant)/%.o)
CONV_BIN  = $(CONV_MAIN:tools/convert/%.c=$(variant)/tools/%)
# Evaluation tools (tools/eval/*.c): one program each, on the library.
EVAL_SRC  = $(wildcard tools/eval/*.c)
EVAL_BIN  = $(EVAL_SRC:tools/eval/%.c=$(variant)/tools/%)
EXAMPLE_SRC = $(wildcard examples/*.c)
EXAMPLE_BIN = $(EXAMPLE_SRC:examples/%.c=$(variant)/examples/%)

LIB = $(variant)/libfacet.a

.PHONY: all test lint clean weights examples converters eval fuzz
all: $(LIB) facet examples converters eval

# The facet program is linked in the variant folder and copied to the top
# on every make, so ./facet is always the variant just built.
.PHONY: facet
facet: $(variant)/facet
	@cp $< $@.tmp && mv -f $@.tmp $@

$(variant)/facet: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) -lcjson $(LDLIBS)

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(variant)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ISA_$(lastword $(subst _, ,$(basename $(notdir $<))))) \
	    -MMD -MP -c -o $@ $<

$(variant)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

$(variant)/examples/%: examples/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

examples: $(EXAMPLE_BIN)

$(variant)/tools/convert_%: tools/convert/convert_%.c $(CONV_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(CONV_OBJ) $(LIB) $(LDFLAGS) -lcjson $(LDLIBS)

converters: $(CONV_BIN)

# The converters' shared objects are not intermediate files to delete.
.SECONDARY: $(CONV_OBJ)

$(variant)/tools/%: tools/eval/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

eval: $(EVAL_BIN)

test: $(TEST_BIN)
	@sh tests/run.sh $(TEST_BIN)

lint:
	@sh tools/lint.sh

weights: converters
	@FACET_BUILD=$(variant) sh tools/weights.sh

fuzz:
	@sh tests/fuzz/run_fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf build facet

-include $(shell find build -name '*.d' 2>/dev/null)
