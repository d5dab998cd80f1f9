package dev.wirespan.metrics;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * The agent's own counters and gauges, written in the Prometheus text exposition format. Metrics
 * are registered once at start-up; reads and increments are lock-free.
 */
public final class AgentMetrics {
  private final Map<String, Family> families = new LinkedHashMap<>();
  private final Map<LossCause, Counter> losses = new EnumMap<>(LossCause.class);

  public AgentMetrics() {
    for (LossCause cause : LossCause.values()) {
      losses.put(
          cause,
          counter(
              "wirespan_lost_total",
              "Events, bytes' worth of messages or spans lost, by pipeline stage and cause.",
              "stage",
              cause.stage(),
              "cause",
              cause.cause()));
    }
  }

  /** The counter of one loss cause. */
  public Counter loss(LossCause cause) {
    return losses.get(cause);
  }

  /**
   * Registers (or returns the already registered) counter {@code name} with the given label
   * name/value pairs. {@code name} should end in {@code _total}.
   */
  public synchronized Counter counter(String name, String help, String... labelPairs) {
    Family family = family(name, help, "counter");
    String labels = labels(labelPairs);
    for (Series s : family.series) {
      if (s.labels.equals(labels) && s.counter != null) {
        return s.counter;
      }
    }
    Counter counter = new Counter();
    family.series.add(new Series(labels, counter, counter::get));
    return counter;
  }

  /** Registers a gauge read when the metrics are scraped. */
  public synchronized void gauge(String name, String help, LongSupplier value, String... labelPairs) {
    family(name, help, "gauge").series.add(new Series(labels(labelPairs), null, value));
  }

  /** Sum of all series of a counter family, or 0 when it does not exist. */
  public synchronized long total(String name) {
    Family family = families.get(name);
    if (family == null) {
      return 0;
    }
    long sum = 0;
    for (Series s : family.series) {
      sum += s.value.getAsLong();
    }
    return sum;
  }

  public synchronized void writePrometheus(Appendable out) {
    try {
      for (Map.Entry<String, Family> e : families.entrySet()) {
        Family f = e.getValue();
        out.append("# HELP ").append(e.getKey()).append(' ').append(f.help).append('\n');
        out.append("# TYPE ").append(e.getKey()).append(' ').append(f.type).append('\n');
        for (Series s : f.series) {
          out.append(e.getKey()).append(s.labels).append(' ');
          out.append(Long.toString(s.value.getAsLong())).append('\n');
        }
      }
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  private Family family(String name, String help, String type) {
    Objects.requireNonNull(name, "name");
    Family family = families.computeIfAbsent(name, n -> new Family(help, type));
    if (!family.type.equals(type)) {
      throw new IllegalArgumentException(name + " is already registered as a " + family.type);
    }
    return family;
  }

  private static String labels(String... pairs) {
    if (pairs.length % 2 != 0) {
      throw new IllegalArgumentException("label name/value pairs expected");
    }
    if (pairs.length == 0) {
      return "";
    }
    StringBuilder sb = new StringBuilder("{");
    for (int i = 0; i < pairs.length; i += 2) {
      if (i > 0) {
        sb.append(',');
      }
      sb.append(pairs[i]).append("=\"");
      String v = pairs[i + 1];
      for (int j = 0; j < v.length(); j++) {
        char c = v.charAt(j);
        if (c == '\\' || c == '"') {
          sb.append('\\').append(c);
        } else if (c == '\n') {
          sb.append("\\n");
        } else {
          sb.append(c);
        }
      }
      sb.append('"');
    }
    return sb.append('}').toString();
  }

  private static final class Family {
    final String help;
    final String type;
    final List<Series> series = new ArrayList<>();

    Family(String help, String type) {
      this.help = help;
      this.type = type;
    }
  }

  private record Series(String labels, Counter counter, LongSupplier value) {}
}
