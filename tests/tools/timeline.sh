#!/bin/sh
#
# timeline.sh: draw loss and latency over time, one line per monitor, as an
# SVG picture (plain sh and awk, nothing else).
#
#   timeline.sh [-t TITLE] -o OUT.svg SAMPLES [EVENTS]
#
# SAMPLES: one line per status reading, "SECONDS LANE AVG_US STDDEV_US LOSS"
# (a dpinger status line with the time and a lane name in front; "-" for
# the three numbers when the monitor gave no answer, which leaves a gap).
# Lanes are drawn in the order they first appear.
# EVENTS: optional, "SECONDS LABEL..." per line, drawn as dashed verticals.
# The picture is written to OUT.svg only when it is complete.
#
set -u

usage()
{
	echo "usage: timeline.sh [-t title] -o out.svg samples [events]" >&2
	exit 2
}

title="dpinger status over time"
out=""
while getopts t:o: opt; do
	case $opt in
	t) title=$OPTARG ;;
	o) out=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$out" ] && [ $# -ge 1 ] && [ $# -le 2 ] || usage
samples=$1
events=${2:-/dev/null}
for f in "$samples" "$events"; do
	if [ ! -r "$f" ]; then
		echo "timeline.sh: cannot read $f" >&2
		exit 1
	fi
done

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT TERM

awk -v title="$title" -v evfile="$events" '
function fail(msg) { print "timeline.sh: " msg > "/dev/stderr"; failed = 1; exit 1 }
function num(s) { return s ~ /^[0-9]+(\.[0-9]+)?$/ }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function x(t) { return L + (t - t0) / (t1 - t0) * W }
function ylos(v) { return T1 + H - v / 100 * H }
function ylat(v) { return T2 + H - (v > lmax ? lmax : v) / lmax * H }
# nice_step: 1, 2 or 5 times a power of ten, about range/n
function nice_step(range, n,   raw, p, m) {
	raw = range / n; p = 1
	while (p * 10 <= raw) p *= 10
	while (p > raw) p /= 10
	m = raw / p
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p
}
NF == 0 || /^#/ { next }
{
	if (NF != 5 || !num($1)) fail(FILENAME ":" FNR ": not \"seconds lane avg stddev loss\": " $0)
	if (!($2 in lane)) { lane[$2] = ++nlanes; name[nlanes] = $2 }
	k = lane[$2]
	n = ++count[k]
	ts[k, n] = $1
	if ($3 == "-") { ok[k, n] = 0 }
	else {
		if (!num($3) || !num($5) || $5 > 100) fail(FILENAME ":" FNR ": bad numbers: " $0)
		ok[k, n] = 1; lat[k, n] = $3 / 1000; los[k, n] = $5
		if (lat[k, n] > maxlat) maxlat = lat[k, n]
	}
	if (!started || $1 < t0) t0 = $1
	if (!started || $1 > t1) t1 = $1
	started = 1
}
END {
	if (failed) exit 1
	if (!started) fail("no samples")
	while ((getline line < evfile) > 0) {
		if (line ~ /^[ \t]*(#|$)/) continue
		split(line, f, " ")
		if (!num(f[1])) fail(evfile ": not \"seconds label\": " line)
		ne++; evt[ne] = f[1]; sub(/^[ \t]*[^ \t]+[ \t]+/, "", line); evl[ne] = line
	}
	t0 = 0
	if (t1 <= t0) t1 = t0 + 1
	# Layout: two panels, loss above latency
	L = 70; W = 760; H = 150; T1 = 70; T2 = T1 + H + 60
	width = L + W + 30; height = T2 + H + 70
	lmax = maxlat > 0 ? maxlat * 1.15 : 1
	lstep = nice_step(lmax, 4); lmax = int(lmax / lstep + 0.999) * lstep
	tstep = nice_step(t1 - t0, 10)
	split("#c0392b #1f6fb2 #2e8b57 #8e44ad #d35400", color, " ")

	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height, width, height
	printf "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height
	printf "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", L, esc(title)
	# Legend
	lx = L
	for (k = 1; k <= nlanes; k++) {
		printf "<line x1=\"%d\" y1=\"44\" x2=\"%d\" y2=\"44\" stroke=\"%s\" stroke-width=\"3\"/>", lx, lx + 24, color[k]
		printf "<text x=\"%d\" y=\"48\">%s</text>\n", lx + 30, esc(name[k])
		lx += 40 + 8 * length(name[k]) + 30
	}
	# Panels, grids and axes
	for (p = 1; p <= 2; p++) {
		top = p == 1 ? T1 : T2
		printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", L, top, W, H
		label = p == 1 ? "loss (%)" : "latency (ms)"
		printf "<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", top + H / 2, label
		for (v = 0; v <= (p == 1 ? 100 : lmax) + 1e-9; v += (p == 1 ? 25 : lstep)) {
			yy = p == 1 ? ylos(v) : ylat(v)
			printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", L, yy, L + W, yy
			printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, yy + 4, v
		}
		for (t = 0; t <= t1 + 1e-9; t += tstep) {
			printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>", x(t), top, x(t), top + H
			printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x(t), top + H + 16, t
		}
	}
	printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">seconds</text>\n", L + W / 2, T2 + H + 34
	# Events
	for (e = 1; e <= ne; e++) {
		printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#555\" stroke-dasharray=\"5,4\"/>\n", x(evt[e]), T1 - 4, x(evt[e]), T2 + H
		printf "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" fill=\"#333\">%s</text>\n", x(evt[e]) + 4, T1 + 14 + 14 * ((e - 1) % 2), esc(evl[e])
	}
	# One polyline per unbroken run of answers, per lane and panel
	for (k = 1; k <= nlanes; k++) {
		for (p = 1; p <= 2; p++) {
			pts = ""
			for (n = 1; n <= count[k] + 1; n++) {
				if (n <= count[k] && ok[k, n]) {
					pts = pts sprintf("%.1f,%.1f ", x(ts[k, n]), p == 1 ? ylos(los[k, n]) : ylat(lat[k, n]))
					continue
				}
				if (pts != "")
					printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"%s\"/>\n", color[k], pts
				pts = ""
			}
		}
	}
	print "</svg>"
}' "$samples" > "$tmp" || exit 1
mv "$tmp" "$out" || exit 1
trap - EXIT
