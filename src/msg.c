/* msg: the protocol-neutral request head (see msg.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg.h"

/* The first field whose name is name[0, len), any case, or NULL. */
static const struct msg_field *
msg_fields_find_n(const struct msg_field *fields, unsigned n, const char *name,
    size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (fields[i].name_len == len &&
		    strncasecmp(fields[i].name, name, len) == 0)
			return &fields[i];
	return NULL;
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

/* The fields that are hop-by-hop whatever Connection says. */
static bool
fixed_hop(const struct msg_field *f)
{
#define HOP(lit)	{ lit, sizeof(lit) - 1 }
	static const struct {
		const char *name;
		size_t len;
	} hop[] = {
		HOP("connection"), HOP("keep-alive"), HOP("proxy-connection"),
		HOP("te"), HOP("upgrade"), HOP("transfer-encoding"),
		HOP("proxy-authorization"), HOP("proxy-authenticate"),
		HOP("trailer"),
	};
#undef HOP

	/* Every field of every head comes here: lengths first. */
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (f->name_len == hop[i].len &&
		    strncasecmp(f->name, hop[i].name, hop[i].len) == 0)
			return true;
	return false;
}

bool
msg_hop_by_hop(const struct msg_field *fields, unsigned nfields,
    const struct msg_field *f)
{
	return fixed_hop(f) || named_by_connection(fields, nfields, f);
}

void
msg_hop_init(struct msg_hop *h, const struct msg_field *fields, unsigned n)
{
	h->fields = fields;
	h->nfields = n;
	h->named = false;
	for (unsigned i = 0; i < n && !h->named; i++) {
		const char *p = fields[i].value, *end = p + fields[i].value_len;
		struct msg_field tok = { 0 };

		if (!msg_name_eq(&fields[i], "connection"))
			continue;
		/* A token matters when it is not a fixed name and some field
		 * of the head carries it ("close" names nothing, mostly). */
		while (!h->named && msg_next_token(&p, end, &tok.name, &tok.name_len))
			h->named = !fixed_hop(&tok) &&
			    msg_fields_find_n(fields, n, tok.name, tok.name_len) != NULL;
	}
}

bool
msg_hop_is(const struct msg_hop *h, const struct msg_field *f)
{
	return fixed_hop(f) ||
	    (h->named && named_by_connection(h->fields, h->nfields, f));
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

bool
msg_field_uint(const struct msg_field *f, uint64_t *out)
{
	uint64_t v = 0;

	if (f->value_len == 0 || f->value_len > 19)
		return false;
	for (size_t i = 0; i < f->value_len; i++) {
		if (f->value[i] < '0' || f->value[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(f->value[i] - '0');
	}
	*out = v;
	return true;
}
