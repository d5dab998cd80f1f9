package dev.wirespan.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The raw string value of every {@link Setting}, resolved from flags, environment and file, with
 * typed accessors that fail with a message naming the setting.
 */
public final class SettingValues {
  private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h)?");
  private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(|B|K|KiB|KB|M|MiB|MB|G|GiB|GB)");

  private final Map<Setting, String> values;
  private final Map<Setting, String> sources;

  private SettingValues(Map<Setting, String> values, Map<Setting, String> sources) {
    this.values = values;
    this.sources = sources;
  }

  /**
   * Resolves every setting.
   *
   * @param flags values given on the command line
   * @param env the process environment
   */
  public static SettingValues resolve(Map<Setting, String> flags, Map<String, String> env) {
    Objects.requireNonNull(flags, "flags");
    Objects.requireNonNull(env, "env");
    Map<Setting, String> values = new EnumMap<>(Setting.class);
    Map<Setting, String> sources = new EnumMap<>(Setting.class);
    String configFile = fromFlagOrEnv(Setting.CONFIG, flags, env, values, sources);
    Map<Setting, String> file =
        configFile == null || configFile.isBlank() ? Map.of() : readFile(Path.of(configFile));
    for (Setting s : Setting.values()) {
      if (s == Setting.CONFIG || fromFlagOrEnv(s, flags, env, values, sources) != null) {
        continue;
      }
      if (file.containsKey(s)) {
        values.put(s, file.get(s));
        sources.put(s, "file " + configFile);
      } else {
        values.put(s, s.defaultValue());
        sources.put(s, "default");
      }
    }
    return new SettingValues(values, sources);
  }

  private static String fromFlagOrEnv(
      Setting s,
      Map<Setting, String> flags,
      Map<String, String> env,
      Map<Setting, String> values,
      Map<Setting, String> sources) {
    if (flags.containsKey(s)) {
      values.put(s, flags.get(s));
      sources.put(s, "flag " + s.flag());
      return flags.get(s);
    }
    for (String var : s.envVars()) {
      String v = env.get(var);
      if (v != null && !v.isBlank()) {
        values.put(s, v.trim());
        sources.put(s, "environment " + var);
        return v;
      }
    }
    if (s == Setting.CONFIG) {
      values.put(s, s.defaultValue());
      sources.put(s, "default");
    }
    return null;
  }

  private static Map<Setting, String> readFile(Path path) {
    JsonNode root;
    try {
      root = new ObjectMapper(new YAMLFactory()).readTree(Files.readAllBytes(path));
    } catch (IOException e) {
      throw new ConfigException("cannot read configuration file " + path + ": " + e.getMessage(), e);
    }
    Map<Setting, String> out = new EnumMap<>(Setting.class);
    if (root == null || root.isNull() || root.isMissingNode()) {
      return out;
    }
    if (!root.isObject()) {
      throw new ConfigException("configuration file " + path + " must be a YAML mapping");
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      Setting s = byKey(e.getKey());
      if (s == null || s == Setting.CONFIG) {
        throw new ConfigException(
            "configuration file " + path + ": unknown setting '" + e.getKey() + "'");
      }
      JsonNode v = e.getValue();
      if (v.isArray()) {
        StringBuilder sb = new StringBuilder();
        v.forEach(n -> sb.append(sb.length() == 0 ? "" : ",").append(n.asText()));
        out.put(s, sb.toString());
      } else if (v.isObject()) {
        StringBuilder sb = new StringBuilder();
        v.fields()
            .forEachRemaining(
                kv ->
                    sb.append(sb.length() == 0 ? "" : ",")
                        .append(kv.getKey())
                        .append('=')
                        .append(kv.getValue().asText()));
        out.put(s, sb.toString());
      } else {
        out.put(s, v.asText());
      }
    }
    return out;
  }

  private static Setting byKey(String key) {
    for (Setting s : Setting.values()) {
      if (s.key().equals(key)) {
        return s;
      }
    }
    return null;
  }

  public String string(Setting s) {
    return values.get(s);
  }

  /** Where the value came from, for the start-up log. */
  public String source(Setting s) {
    return sources.get(s);
  }

  public boolean bool(Setting s) {
    String v = values.get(s).trim().toLowerCase(Locale.ROOT);
    return switch (v) {
      case "true", "yes", "on", "1" -> true;
      case "false", "no", "off", "0" -> false;
      default -> throw invalid(s, "true or false");
    };
  }

  public int intValue(Setting s, int min, int max) {
    long v;
    try {
      v = Long.parseLong(values.get(s).trim());
    } catch (NumberFormatException e) {
      throw invalid(s, "an integer");
    }
    if (v < min || v > max) {
      throw invalid(s, "an integer from " + min + " to " + max);
    }
    return (int) v;
  }

  /** A duration: {@code 500ms}, {@code 30s}, {@code 2m}, {@code 1h}; a plain number is ms. */
  public Duration duration(Setting s) {
    Matcher m = DURATION.matcher(values.get(s).trim());
    if (!m.matches()) {
      throw invalid(s, "a duration such as 500ms, 30s or 2m");
    }
    long n = Long.parseLong(m.group(1));
    String unit = m.group(2) == null ? "ms" : m.group(2);
    return switch (unit) {
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      case "h" -> Duration.ofHours(n);
      default -> Duration.ofMillis(n);
    };
  }

  /** A size in bytes: {@code 4096}, {@code 64KiB}, {@code 8MiB} (K, M, G are binary). */
  public long bytes(Setting s, long min, long max) {
    Matcher m = SIZE.matcher(values.get(s).trim());
    if (!m.matches()) {
      throw invalid(s, "a size such as 4096, 64KiB or 8MiB");
    }
    long n = Long.parseLong(m.group(1));
    long unit =
        switch (m.group(2)) {
          case "K", "KiB", "KB" -> 1L << 10;
          case "M", "MiB", "MB" -> 1L << 20;
          case "G", "GiB", "GB" -> 1L << 30;
          default -> 1L;
        };
    long v = n * unit;
    if (v < min || v > max) {
      throw invalid(s, "a size from " + min + " to " + max + " bytes");
    }
    return v;
  }

  public ConfigException invalid(Setting s, String expected) {
    return new ConfigException(
        "invalid value '"
            + values.get(s)
            + "' for "
            + s.flag()
            + " (from "
            + sources.get(s)
            + "): expected "
            + expected);
  }
}
