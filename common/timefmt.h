/* timefmt.h: clocks and the time formats AWS uses (CLF, ISO-8601 ms, HTTP dates). */
#ifndef PORTICO_COMMON_TIMEFMT_H
#define PORTICO_COMMON_TIMEFMT_H

#include <stdint.h>

int64_t time_now_ms(void);  /* wall clock, unix ms */
int64_t time_mono_us(void); /* monotonic, us */
int64_t time_mono_ms(void);

/* "09/Feb/2024:18:11:43 +0000" (26 chars + NUL). */
void time_clf(int64_t unix_ms, char out[32]);
/* "2022-01-25T18:50:04.673Z" (24 chars + NUL). */
void time_iso_ms(int64_t unix_ms, char out[32]);
/* "Sun, 06 Nov 1994 08:49:37 GMT" (29 chars + NUL). */
void time_http_date(int64_t unix_s, char out[32]);

#endif
