/*
 * models: what a model name tells the counters: its encoding, the framing its chat
 * format adds per message, the constants of the cookbook's tool-definition count,
 * and how it bills images. One table (models.c), matched by name prefix.
 */
#ifndef TG_TOKENIZER_MODELS_H
#define TG_TOKENIZER_MODELS_H

#include <stdbool.h>
#include <stdint.h>

#include "tollgate_tokens.h"

typedef enum {
    TG__IMAGE_TILES = 1,   /* base + per 512 px tile (GPT-4o family) */
    TG__IMAGE_PATCHES = 2, /* 32 px patches, capped, times a multiplier (4.1-mini, ...) */
    TG__IMAGE_PIXELS = 3   /* width * height / 750, long edge at most 1568 (Claude) */
} tg__image_billing;

typedef struct {
    const char *prefix;         /* model names starting with this ("gpt-4o-mini") */
    tg_encoding encoding;       /* tokenizer */
    int tokens_per_message;     /* framing around each chat message */
    int tokens_per_name;        /* extra for a message's "name" */
    int reply_priming;          /* <|start|>assistant<|message|> */
    int function_init;          /* cookbook num_tokens_for_tools: per function */
    int function_end;           /* once after all functions */
    tg__image_billing image;    /* how images are billed */
    int image_base;             /* tiles: tokens per image; pixels: unused */
    int image_tile;             /* tiles: tokens per 512 px tile */
    int image_multiplier_milli; /* patches: multiplier x 1000 (1620 = 1.62) */
    int estimate_permille;      /* Anthropic: text tokens = o200k count x this / 1000 */
} tg__model;

/* The table row for a model name (provider prefixes like "openai/" and the "ft:" of a
 * fine-tuned model are skipped);
 * unknown names get a GPT-4o-like default and *known_out false. Never NULL. */
const tg__model *tg__model_find(const char *model, bool *known_out);

/* Cookbook constants shared by every model: property and enum framing. */
#define TG__TOOL_PROPERTIES_INIT 3
#define TG__TOOL_PROPERTY_KEY 3
#define TG__TOOL_ENUM_INIT (-3)
#define TG__TOOL_ENUM_ITEM 3

#endif
