/*
 * text.c — fonts for text layers: a fontconfig pattern ("DejaVu Sans:
 * style=Bold") to a font file, looked up once per process, and the width
 * of a line at a size (FreeType advances), for shrink-to-fit. drawtext is
 * then given the file, so it does not start fontconfig per filter.
 */
#include <fontconfig/fontconfig.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define FONT_CACHE 16

static struct {
	char pattern[128];
	char path[1024];
} fonts[FONT_CACHE];
static int nfonts;

int
font_file(const char *pattern, char *path, size_t size)
{
	static FcConfig *fc;
	FcPattern *pat, *match;
	FcResult result;
	FcChar8 *file = NULL;
	int rc = -1;

	for (int i = 0; i < nfonts; i++)
		if (strcmp(fonts[i].pattern, pattern) == 0) {
			snprintf(path, size, "%s", fonts[i].path);
			return 0;
		}
	if (fc == NULL && (fc = FcInitLoadConfigAndFonts()) == NULL)
		return -1;
	if ((pat = FcNameParse((const FcChar8 *)pattern)) == NULL)
		return -1;
	FcConfigSubstitute(fc, pat, FcMatchPattern);
	FcDefaultSubstitute(pat);
	match = FcFontMatch(fc, pat, &result);
	FcPatternDestroy(pat);
	if (match == NULL)
		return -1;
	if (FcPatternGetString(match, FC_FILE, 0, &file) == FcResultMatch &&
	    (size_t)snprintf(path, size, "%s", (const char *)file) < size) {
		rc = 0;
		if (nfonts < FONT_CACHE && strlen(pattern) <
		    sizeof fonts[0].pattern) {
			snprintf(fonts[nfonts].pattern, sizeof fonts[0].pattern, "%s",
			    pattern);
			snprintf(fonts[nfonts].path, sizeof fonts[0].path, "%s", path);
			nfonts++;
		}
	}
	FcPatternDestroy(match);
	return rc;
}

/* next_codepoint: decode one UTF-8 sequence (the text is valid UTF-8:
 * it came through libjq). */
static unsigned long
next_codepoint(const unsigned char **p)
{
	const unsigned char *s = *p;
	unsigned long c = *s++;
	int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;

	if (extra)
		c &= 0x3f >> extra;
	while (extra-- > 0 && (*s & 0xc0) == 0x80)
		c = (c << 6) | (*s++ & 0x3f);
	*p = s;
	return c;
}

static FT_Library ft;

double
font_ascent(const char *font_path, double size)
{
	FT_Face face;
	double a;

	if (ft == NULL && FT_Init_FreeType(&ft) != 0)
		return -1;
	if (FT_New_Face(ft, font_path, 0, &face) != 0)
		return -1;
	if (FT_Set_Pixel_Sizes(face, 0, (FT_UInt)(size + 0.5)) != 0) {
		FT_Done_Face(face);
		return -1;
	}
	a = face->size->metrics.ascender / 64.0;
	FT_Done_Face(face);
	return a;
}

double
text_width(const char *font_path, double size, const char *utf8)
{
	FT_Face face;
	const unsigned char *p = (const unsigned char *)utf8;
	double width = 0;

	if (ft == NULL && FT_Init_FreeType(&ft) != 0)
		return -1;
	if (FT_New_Face(ft, font_path, 0, &face) != 0)
		return -1;
	if (FT_Set_Pixel_Sizes(face, 0, (FT_UInt)(size + 0.5)) != 0) {
		FT_Done_Face(face);
		return -1;
	}
	while (*p) {
		unsigned long c = next_codepoint(&p);
		if (FT_Load_Char(face, c, FT_LOAD_DEFAULT) == 0)
			width += face->glyph->advance.x / 64.0;
	}
	FT_Done_Face(face);
	return width;
}
