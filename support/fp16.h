/* fp16.h - bit-exact conversions between f32 and the 16-bit float formats
 * (bf16, IEEE f16), round-to-nearest-even, NaN preserved as a quiet NaN.
 * The interpreter, constant folding and .npy I/O all round through these,
 * so "what bf16 means" is defined in exactly one place. */
#ifndef TILE_FP16_H
#define TILE_FP16_H

#include <stdint.h>

uint16_t fp_f32_to_bf16(float f);
float fp_bf16_to_f32(uint16_t h);
uint16_t fp_f32_to_f16(float f);
float fp_f16_to_f32(uint16_t h);
/* Round a float to the value the 16-bit format would hold, back as float. */
float fp_round_bf16(float f);
float fp_round_f16(float f);

#endif
