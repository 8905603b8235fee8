/* SPDX-License-Identifier: MIT
 * sms_module.c: the loadable-module entry point (sb_bridge_sms.so), the only symbol the
 * module exports; everything else is built with hidden visibility.
 */
#include "sb_sms.h"

SB_BRIDGE_MODULE(sb_bridge_sms)
