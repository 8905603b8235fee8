/* SPDX-License-Identifier: MIT
 * test_fixtures.h: the SMS-shaped signature vectors of PROVIDERS.md 1.4 (token
 * test_auth_token) as complete requests, shared by the SMS bridge tests.
 */
#ifndef TEST_FIXTURES_H
#define TEST_FIXTURES_H

#define SID_SM1 "SM11111111111111111111111111111111"
#define SID_SM4 "SM44444444444444444444444444444444"
#define SID_MG2 "MG22222222222222222222222222222222"
#define SID_AC3 "AC33333333333333333333333333333333"
#define FX_TOKEN "test_auth_token"

#define FX_IN_URL "https://hub.example.com/webhooks/twilio/sms?tenant=acme"
#define FX_IN_BODY                                                                         \
	"ToCountry=US&ToState=CA&SmsMessageSid=" SID_SM1 "&NumMedia=0&ToCity=&FromZip=94105&" \
	"SmsSid=" SID_SM1 "&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&"          \
	"Body=Hello+there%21&FromCountry=US&To=%2B14155550100&MessagingServiceSid=" SID_MG2  \
	"&ToZip=&NumSegments=1&MessageSid=" SID_SM1 "&AccountSid=" SID_AC3                   \
	"&From=%2B14155550123&ApiVersion=2010-04-01"
#define FX_IN_SIG "eP9h7by6SQlrkzY9qmU6uDdwovE="

#define FX_ST_URL "https://hub.example.com/webhooks/twilio/status"
#define FX_ST_BODY                                                                         \
	"SmsSid=" SID_SM4 "&SmsStatus=undelivered&MessageStatus=undelivered&"                 \
	"To=%2B14155550123&MessagingServiceSid=" SID_MG2 "&MessageSid=" SID_SM4              \
	"&AccountSid=" SID_AC3 "&From=%2B14155550100&ApiVersion=2010-04-01&ErrorCode=30003"
#define FX_ST_SIG "6w45Of5ey9S7xIsbUut+LkIc27o="

#endif
