/*
 * proxy_fixture.h: shared by the proxy tests (test_proxy_*.c). Assertion macros
 * that print both operands as signed 64-bit numbers, a small price table used
 * across tests, and a helper that runs text through the SSE parser into a
 * stream tracker. Everything is `static inline` or a macro, so a test using
 * part of it does not warn about the rest.
 */
#ifndef TG_TEST_PROXY_FIXTURE_H
#define TG_TEST_PROXY_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "assertions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

/* 2026-01-15T12:00:00Z */
#define NOON_MS INT64_C(1768478400000)

/*
 * A price table with the rule shapes the converted table uses. Prices are micros
 * per million tokens: gpt-4o $2.50 in, $1.25 cached, $10 out.
 */
static const char PROXY_TEST_TABLE[] =
    "{\"format\":\"tollgate-prices/1\","
    "\"source\":{\"package\":\"@pydantic/genai-prices\",\"version\":\"9.9.9\"},"
    "\"providers\":["
    "{\"id\":\"openai\",\"models\":["
    "{\"id\":\"gpt-4o-2024-05-13\",\"match\":{\"equals\":\"gpt-4o-2024-05-13\"},"
    "\"prices\":[{\"input_mtok\":5000000,\"output_mtok\":15000000}],\"context_window\":128000},"
    "{\"id\":\"gpt-4o-audio\",\"match\":{\"starts_with\":\"gpt-4o-audio\"},"
    "\"prices\":[{\"input_mtok\":2500000,\"input_audio_mtok\":40000000,\"output_mtok\":10000000,"
    "\"output_audio_mtok\":80000000}]},"
    "{\"id\":\"gpt-4o\",\"match\":{\"or\":[{\"equals\":\"gpt-4o\"},{\"equals\":\"gpt-4o-2024-08-"
    "06\"}]},"
    "\"prices\":[{\"input_mtok\":2500000,\"cache_read_mtok\":1250000,\"output_mtok\":10000000}],"
    "\"context_window\":128000},"
    "{\"id\":\"o3\",\"match\":{\"equals\":\"o3\"},\"prices\":["
    "{\"input_mtok\":10000000,\"cache_read_mtok\":500000,\"output_mtok\":40000000},"
    "{\"input_mtok\":2000000,\"cache_read_mtok\":500000,\"output_mtok\":8000000,"
    "\"from_ms\":1749513600000}],\"context_window\":200000},"
    "{\"id\":\"gpt-5\",\"match\":{\"regex\":\"^gpt-5-[0-9]{4}-[0-9]{2}-[0-9]{2}$\"},"
    "\"prices\":[{\"input_mtok\":1250000,\"output_mtok\":10000000,\"requests_kcount\":5000}]},"
    "{\"id\":\"gpt-4\",\"match\":{\"and\":[{\"starts_with\":\"gpt-4\"},"
    "{\"not\":{\"regex\":\"-[tT][tT][sS]($|-)\"}}]},"
    "\"prices\":[{\"input_mtok\":30000000,\"output_mtok\":60000000}],\"context_window\":8192},"
    "{\"id\":\"text-embedding-3-small\",\"match\":{\"equals\":\"text-embedding-3-small\"},"
    "\"prices\":[{\"input_mtok\":20000}]}"
    "]},"
    "{\"id\":\"anthropic\",\"models\":["
    "{\"id\":\"claude-sonnet-4-0\",\"match\":{\"or\":[{\"starts_with\":\"claude-sonnet-4-0\"},"
    "{\"equals\":\"claude-sonnet-4-2025-05-14\"}]},"
    "\"prices\":[{\"input_mtok\":3000000,\"cache_write_mtok\":3750000,\"cache_read_mtok\":300000,"
    "\"cache_write_1h_mtok\":6000000,\"output_mtok\":15000000,\"web_searches_kcount\":10000000}],"
    "\"context_window\":200000},"
    "{\"id\":\"claude-opus-4-6\",\"match\":{\"starts_with\":\"claude-opus-4-6\"},"
    "\"prices\":[{\"input_mtok\":{\"base\":5000000,\"tiers\":[{\"start\":200000,\"price\":10000000}"
    "]},"
    "\"output_mtok\":{\"base\":25000000,\"tiers\":[{\"start\":200000,\"price\":37500000}]}}],"
    "\"context_window\":1000000}"
    "]},"
    "{\"id\":\"deepseek\",\"models\":["
    "{\"id\":\"deepseek-chat\",\"match\":{\"equals\":\"deepseek-chat\"},\"prices\":["
    "{\"input_mtok\":270000,\"output_mtok\":1100000},"
    "{\"input_mtok\":135000,\"output_mtok\":550000,\"utc_seconds\":[59400,1800]}]}"
    "]},"
    "{\"id\":\"azure\",\"fallback\":[\"openai\"],\"models\":["
    "{\"id\":\"gpt-35-turbo\",\"match\":{\"equals\":\"gpt-35-turbo\"},"
    "\"prices\":[{\"input_mtok\":500000,\"output_mtok\":1500000}]}"
    "]}"
    "]}";

#endif
