/* SPDX-License-Identifier: MIT
 * twiml.h: the hub's TwiML reader, twiml_reply() from hub/sandbox.c, which is file-static
 * there. CMake copies the function's text out of hub/sandbox.c at configure time into
 * twiml_reply.inc (re-run whenever sandbox.c changes), so the fuzzers run the real code.
 */
#ifndef SB_FUZZ_TWIML_H
#define SB_FUZZ_TWIML_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "twiml_reply.inc"

#define TWIML_REPLY_CAP 400 /* struct sim.reply in hub/sandbox.c */

#endif
