# tools/demo-plots.gp: the demo's pictures, from report/hourly.dat
# (tools/demo.sh writes it; its first line names the columns).
#
#   gnuplot -e "report='report'; meters=5000" tools/demo-plots.gp
#
# fleet_load.png: the fleet's load per hour. quality.png, three panels on
# one time axis: the validated readings' average score and premium share
# (each on its own axis), the readings quarantined per hour by reason, and
# the flags on validated readings and the alerts per hour, where the
# trouble meter-sim injected shows. Hours are hour starts, UTC, event time.

data = report . "/hourly.dat"
set datafile missing "?"
# The whole range, closing hour included, half an hour of room each side.
stats data using (timecolumn(1, "%Y-%m-%dT%H:%M")) nooutput
xmin = STATS_min - 1800
xmax = STATS_max + 1800
hours_utc = sprintf("hour (UTC): %s to %s", strftime("%Y-%m-%d %H:%M", STATS_min), \
                    strftime("%Y-%m-%d %H:%M", STATS_max))
set xdata time
set timefmt "%Y-%m-%dT%H:%M"
set xrange [xmin:xmax]
set format x "%a %d %b\n%H:%M"
set grid
set lmargin 11
set rmargin 11

set terminal pngcairo size 1000,450 font "DejaVu Sans,10"
set output report . "/fleet_load.png"
set title sprintf("Fleet load per hour: %d simulated meters (sum of the meters' hourly average kW)", meters)
set xlabel hours_utc
set ylabel "kW"
set key top left
plot data using 1:2 with lines lw 2 lc rgb "#1f77b4" title "fleet kW"

set terminal pngcairo size 1000,1000 font "DejaVu Sans,10"
set output report . "/quality.png"
set multiplot title sprintf("Quality per hour of event time: %d simulated meters with the trouble meter-sim injected", meters) font ",12"
# Panels, top to bottom: 1 is short (it says one thing), 2 and 3 share the rest.
set size 1, 0.24
set origin 0, 0.71

# 1. The validated readings: steady, since the trouble is taken out (below).
#    Fixed ranges, so that noise in the second decimal does not look like news.
set title "Validated readings (the rollups): average score (left) and premium share (right) stay steady: the trouble is taken out (below)"
unset xlabel
set format x ""
set ylabel "average score (0-100)" textcolor rgb "#2ca02c"
set yrange [90:100]
set ytics 2 nomirror textcolor rgb "#2ca02c"
set y2label "premium, % of validated" textcolor rgb "#ff7f0e"
set y2range [80:100]
set y2tics 4 textcolor rgb "#ff7f0e"
set key bottom left horizontal
plot data using 1:3 axes x1y1 with linespoints lw 2 pt 7 ps 0.5 lc rgb "#2ca02c" title "average score", \
     data using 1:4 axes x1y2 with linespoints lw 2 pt 7 ps 0.5 lc rgb "#ff7f0e" title "premium share"

# 2. Quarantined readings, stacked by their first reason.
unset y2label
unset y2tics
set ytics autofreq mirror textcolor rgb "black"
set size 1, 0.34
set origin 0, 0.37
set ylabel "readings" textcolor rgb "black"
set title "Readings quarantined per hour, by their first reason"
set yrange [0:*]
set offsets 0, 0, graph 0.35, 0
set style fill solid 0.9 noborder
set boxwidth 3000 absolute
set key top left horizontal maxrows 2 width -2
plot data using 1:($5+$6+$7+$8+$9) with boxes lc rgb "#b0b0b0" title "unknown or inactive meter", \
     data using 1:($6+$7+$8+$9) with boxes lc rgb "#d62728" title "fault (stuck, zero, overload)", \
     data using 1:($7+$8+$9) with boxes lc rgb "#9467bd" title "negative or over the limit", \
     data using 1:($8+$9) with boxes lc rgb "#1f77b4" title "duplicate or out of order", \
     data using 1:9 with boxes lc rgb "#8c564b" title "score under 70"

# 3. What the workers flagged on validated readings, and the alerts.
set title "Validated readings flagged per hour (bars), alerts raised and cleared (points)"
set size 1, 0.37
set origin 0, 0
set format x "%a %d %b\n%H:%M"
set xlabel hours_utc
set ylabel "readings / alerts"
plot data using 1:($10+$11+$12+$13) with boxes lc rgb "#bcbd22" title "gap filled (interpolated)", \
     data using 1:($10+$11+$13) with boxes lc rgb "#17becf" title "gap alarmed", \
     data using 1:($10+$11) with boxes lc rgb "#ff7f0e" title "drop", \
     data using 1:10 with boxes lc rgb "#e377c2" title "spike", \
     data using 1:($14 > 0 ? $14 : 1/0) with points pt 9 ps 1.6 lc rgb "#d62728" title "alerts raised", \
     data using 1:($15 > 0 ? $15 : 1/0) with points pt 11 ps 1.6 lc rgb "#2ca02c" title "alerts cleared"
unset multiplot
