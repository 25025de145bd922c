/*
 * printf family. One formatter writes into a "sink" that either fills a
 * caller buffer (snprintf) or streams to the console (printf), so console
 * output has no length limit and no static buffer.
 *
 * Conversions: d i u x X o c s p %; flags '-' '0' ' ' '+' '#'; width and
 * precision (numbers or '*'); length modifiers hh h l ll z t j.
 * No floating point (the guest is built without SSE).
 */
#include "libcflat.h"

struct sink {
	bool console;		/* stream to the console instead of buf */
	char *buf;
	size_t size;		/* capacity of buf including the NUL */
	size_t len;		/* characters produced so far (even if dropped) */
};

static void emit(struct sink *s, char c)
{
	if (s->console)
		putchar(c);
	else if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

static void emit_pad(struct sink *s, char c, int n)
{
	while (n-- > 0)
		emit(s, c);
}

struct spec {
	bool left, zero, plus, space, alt;
	int width;
	int prec;		/* -1: none */
};

static void emit_str(struct sink *s, const char *str, const struct spec *sp)
{
	int len = 0;

	if (!str)
		str = "(null)";
	while (str[len] && (sp->prec < 0 || len < sp->prec))
		len++;
	if (!sp->left)
		emit_pad(s, ' ', sp->width - len);
	for (int i = 0; i < len; i++)
		emit(s, str[i]);
	if (sp->left)
		emit_pad(s, ' ', sp->width - len);
}

/*
 * Format an unsigned magnitude with an optional sign/prefix. Zero padding
 * goes between the prefix and the digits, as in C.
 */
static void emit_num(struct sink *s, u64 v, bool neg, unsigned base,
		     bool upper, const char *prefix, const struct spec *sp)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	char sign = 0;
	int n = 0, plen = 0, zeros, total;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (sp->prec == 0 && n == 1 && tmp[0] == '0')
		n = 0;		/* "%.0d" of 0 prints nothing */

	if (neg)
		sign = '-';
	else if (sp->plus)
		sign = '+';
	else if (sp->space)
		sign = ' ';
	if (prefix)
		plen = strlen(prefix);

	zeros = sp->prec > n ? sp->prec - n : 0;
	total = (sign ? 1 : 0) + plen + zeros + n;
	if (sp->zero && !sp->left && sp->prec < 0 && sp->width > total) {
		zeros += sp->width - total;
		total = sp->width;
	}

	if (!sp->left)
		emit_pad(s, ' ', sp->width - total);
	if (sign)
		emit(s, sign);
	for (int i = 0; i < plen; i++)
		emit(s, prefix[i]);
	emit_pad(s, '0', zeros);
	while (n)
		emit(s, tmp[--n]);
	if (sp->left)
		emit_pad(s, ' ', sp->width - total);
}

enum length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE };

static u64 arg_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_CHAR:  return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_SHORT: return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_LONG:  return va_arg(*ap, unsigned long);
	case LEN_LLONG: return va_arg(*ap, unsigned long long);
	case LEN_SIZE:  return va_arg(*ap, size_t);
	default:        return va_arg(*ap, unsigned int);
	}
}

static s64 arg_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_CHAR:  return (signed char)va_arg(*ap, int);
	case LEN_SHORT: return (short)va_arg(*ap, int);
	case LEN_LONG:  return va_arg(*ap, long);
	case LEN_LLONG: return va_arg(*ap, long long);
	case LEN_SIZE:  return va_arg(*ap, long);	/* ssize_t */
	default:        return va_arg(*ap, int);
	}
}

static const char *parse_int(const char *f, int *out, va_list *ap)
{
	if (*f == '*') {
		*out = va_arg(*ap, int);
		return f + 1;
	}
	*out = 0;
	while (*f >= '0' && *f <= '9')
		*out = *out * 10 + (*f++ - '0');
	return f;
}

static void format(struct sink *s, const char *f, va_list ap_in)
{
	va_list ap;

	/* A local copy so helpers can take its address portably. */
	va_copy(ap, ap_in);
	while (*f) {
		struct spec sp = { .prec = -1 };
		enum length len = LEN_INT;

		if (*f != '%') {
			emit(s, *f++);
			continue;
		}
		f++;
		for (;; f++) {
			if (*f == '-') sp.left = true;
			else if (*f == '0') sp.zero = true;
			else if (*f == '+') sp.plus = true;
			else if (*f == ' ') sp.space = true;
			else if (*f == '#') sp.alt = true;
			else break;
		}
		f = parse_int(f, &sp.width, &ap);
		if (sp.width < 0) {		/* '*' with a negative value */
			sp.left = true;
			sp.width = -sp.width;
		}
		if (*f == '.') {
			f = parse_int(f + 1, &sp.prec, &ap);
			if (sp.prec < 0)
				sp.prec = -1;
		}
		if (*f == 'h') {
			len = f[1] == 'h' ? LEN_CHAR : LEN_SHORT;
			f += len == LEN_CHAR ? 2 : 1;
		} else if (*f == 'l') {
			len = f[1] == 'l' ? LEN_LLONG : LEN_LONG;
			f += len == LEN_LLONG ? 2 : 1;
		} else if (*f == 'z' || *f == 't' || *f == 'j') {
			len = *f == 'j' ? LEN_LLONG : LEN_SIZE;
			f++;
		}

		switch (*f) {
		case 'd':
		case 'i': {
			s64 v = arg_signed(&ap, len);
			u64 mag = v < 0 ? -(u64)v : (u64)v;
			emit_num(s, mag, v < 0, 10, false, NULL, &sp);
			break;
		}
		case 'u':
			emit_num(s, arg_unsigned(&ap, len), false, 10, false, NULL, &sp);
			break;
		case 'x':
		case 'X': {
			u64 v = arg_unsigned(&ap, len);
			const char *pfx = sp.alt && v ? (*f == 'x' ? "0x" : "0X") : NULL;
			emit_num(s, v, false, 16, *f == 'X', pfx, &sp);
			break;
		}
		case 'o':
			emit_num(s, arg_unsigned(&ap, len), false, 8, false,
				 sp.alt ? "0" : NULL, &sp);
			break;
		case 'p':
			emit_num(s, (unsigned long)va_arg(ap, void *), false, 16,
				 false, "0x", &sp);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			if (!sp.left)
				emit_pad(s, ' ', sp.width - 1);
			emit(s, c);
			if (sp.left)
				emit_pad(s, ' ', sp.width - 1);
			break;
		}
		case 's':
			emit_str(s, va_arg(ap, const char *), &sp);
			break;
		case '%':
			emit(s, '%');
			break;
		case '\0':
			f--;		/* lone '%' at the end: stop */
			break;
		default:		/* unknown: print it verbatim */
			emit(s, '%');
			emit(s, *f);
			break;
		}
		f++;
	}
	va_end(ap);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct sink s = { .buf = buf, .size = size };

	format(&s, fmt, ap);
	if (size)
		buf[s.len < size ? s.len : size - 1] = '\0';
	return (int)s.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int vprintf(const char *fmt, va_list ap)
{
	struct sink s = { .console = true };

	console_lock();
	format(&s, fmt, ap);
	console_unlock();
	return (int)s.len;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}
