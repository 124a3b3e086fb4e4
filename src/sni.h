/*
 * sni: the choice of a listener's certificate by the server name the
 * client sends (SNI).  Each certificate context is reached by the DNS
 * names its certificate carries (exact names first, then the longest
 * "*.suffix" that covers one label); without a match the listener's first
 * certificate serves, unless strict, when the handshake fails with
 * unrecognized_name.  No name sent: the first certificate.
 */
#ifndef MCX_SNI_H
#define MCX_SNI_H

#include <stdbool.h>

struct ssl_ctx_st;
struct sni_table;

struct sni_table *sni_table_new(bool strict);
/* Adds ctx under the DNS names of its certificate.  owned: the table frees
 * ctx with itself (every context but the listener's first). */
int	sni_add(struct sni_table *, struct ssl_ctx_st *ctx, bool owned);
/* Makes def choose among the table's contexts; def owns the table from
 * then on (it is freed with def).  Returns 0 or -1. */
int	sni_install(struct ssl_ctx_st *def, struct sni_table *);
void	sni_table_free(struct sni_table *);

#endif
