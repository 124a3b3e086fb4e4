/* msg: the protocol-neutral request head (see msg.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg.h"

bool
msg_name_eq(const struct msg_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

const struct msg_field *
msg_fields_find(const struct msg_field *fields, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (msg_name_eq(&fields[i], name))
			return &fields[i];
	return NULL;
}

const struct msg_field *
msg_find(const struct msg_request *rq, const char *name)
{
	return msg_fields_find(rq->fields, rq->nfields, name);
}

bool
msg_next_token(const char **pp, const char *end, const char **tok, size_t *toklen)
{
	const char *p = *pp, *s, *e;

	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end) {
			*pp = p;
			return false;
		}
		s = p;
		while (p < end && *p != ',')
			p++;
		e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s)
			break;
	}
	*tok = s;
	*toklen = (size_t)(e - s);
	*pp = p;
	return true;
}

bool
msg_token_eq(const char *t, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(t, lit, n) == 0;
}

/* Whether a Connection field among fields[0, n) names this field. */
static bool
named_by_connection(const struct msg_field *fields, unsigned nfields,
    const struct msg_field *f)
{
	for (unsigned i = 0; i < nfields; i++) {
		const struct msg_field *c = &fields[i];
		const char *p = c->value, *end = c->value + c->value_len, *tok;
		size_t n;

		if (!msg_name_eq(c, "connection"))
			continue;
		while (msg_next_token(&p, end, &tok, &n))
			if (n == f->name_len && strncasecmp(tok, f->name, n) == 0)
				return true;
	}
	return false;
}

bool
msg_hop_by_hop(const struct msg_field *fields, unsigned nfields,
    const struct msg_field *f)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te",
		"upgrade", "transfer-encoding", "proxy-authorization",
		"proxy-authenticate", "trailer",
	};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (msg_name_eq(f, hop[i]))
			return true;
	return named_by_connection(fields, nfields, f);
}

void
field_list_free(struct field_list *fl)
{
	free(fl->v);
	free(fl->scratch);
	fl->v = NULL;
	fl->scratch = NULL;
	fl->scap = fl->used = 0;
	fl->n = fl->cap = 0;
}
