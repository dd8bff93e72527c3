/*
 * pdf: how many pages a PDF has, read from its bytes, for the proxy's bound on a
 * document part (a provider bills a PDF per page: each page's text and an image
 * of it). Nothing is rendered or decompressed: the page objects ("/Type /Page")
 * are counted and the page tree's "/Count" entries read, and the larger is taken,
 * so a file with incremental updates counts too many pages, never too few.
 * A PDF whose page tree sits only in compressed object streams shows neither:
 * it is refused (TG_ERR_NOT_FOUND) rather than guessed.
 */
#ifndef TG_PROXY_PDF_H
#define TG_PROXY_PDF_H

#include <stddef.h>
#include <stdint.h>

#include "tollgate.h"

#define TG__PDF_SIZE_MAX (64 * 1024 * 1024) /* bytes of a PDF scanned */
#define TG__PDF_PAGES_MAX INT64_C(1000000)  /* page counts above this are this */

/*
 * Pages of the PDF in bytes[0..size). TG_ERR_INVALID when it does not start with
 * "%PDF-", TG_ERR_NOT_FOUND when no page object or count is visible, TG_ERR_FULL
 * past TG__PDF_SIZE_MAX. *pages_out is written only on success (>= 1).
 */
tg_status tg__pdf_pages(const uint8_t *bytes, size_t size, int64_t *pages_out);

/*
 * The same for a PDF given as base64 text (a data: URL prefix is skipped).
 * TG_ERR_INVALID also for bad base64; TG_ERR_NOMEM.
 */
tg_status tg__pdf_pages_base64(const char *text, size_t size, int64_t *pages_out);

#endif
