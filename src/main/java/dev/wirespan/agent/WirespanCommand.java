package dev.wirespan.agent;

import java.io.PrintWriter;
import java.util.EnumMap;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * The command line: {@code wirespan-agent [options]}. Options are generated from {@link Setting}
 * so that flags, environment variables and the configuration file share one model.
 */
public final class WirespanCommand {
  /** Exit code for a wrong flag or setting. */
  public static final int EXIT_USAGE = 2;
  /** Exit code when the agent cannot start (missing capability, kernel feature). */
  public static final int EXIT_START_FAILED = 1;

  private static final String NETTY_LEAK_DETECTION_LEVEL = "io.netty.leakDetection.level";

  private WirespanCommand() {}

  public static void main(String[] args) {
    // Before anything logs: the JDK's own LogManager would close our handlers at shutdown.
    System.setProperty("java.util.logging.manager", AgentLogManager.class.getName());
    // Before Netty loads: its leak detector samples one buffer in 128 and records a stack trace
    // for it, about 5 % of the capture thread's CPU. The tracker releases every buffer it takes
    // (the tests check that with detection on); -Dio.netty.leakDetection.level=... still wins.
    if (System.getProperty(NETTY_LEAK_DETECTION_LEVEL) == null) {
      System.setProperty(NETTY_LEAK_DETECTION_LEVEL, "disabled");
    }
    System.exit(run(args, System.getenv(), new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /** Parses {@code args}, runs the agent until it is stopped, and returns the exit code. */
  public static int run(String[] args, Map<String, String> env, PrintWriter out, PrintWriter err) {
    CommandLine cli = new CommandLine(spec());
    ParseResult parsed;
    try {
      parsed = cli.parseArgs(args);
    } catch (CommandLine.ParameterException e) {
      err.println("wirespan-agent: " + e.getMessage());
      err.println("Try 'wirespan-agent --help' for the list of options.");
      return EXIT_USAGE;
    }
    if (cli.isUsageHelpRequested()) {
      cli.usage(out);
      return 0;
    }
    if (cli.isVersionHelpRequested()) {
      cli.printVersionHelp(out);
      return 0;
    }
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    for (Setting s : Setting.values()) {
      if (parsed.hasMatchedOption(s.flag())) {
        flags.put(s, parsed.matchedOptionValue(s.flag(), ""));
      }
    }
    AgentConfig config;
    try {
      config = AgentConfig.from(SettingValues.resolve(flags, env));
    } catch (ConfigException e) {
      err.println("wirespan-agent: " + e.getMessage());
      return EXIT_USAGE;
    }
    return Agent.runUntilStopped(config, err);
  }

  static CommandSpec spec() {
    CommandSpec spec = CommandSpec.create().name("wirespan-agent");
    spec.mixinStandardHelpOptions(true);
    spec.version("wirespan-agent " + versionString());
    spec.usageMessage()
        .description(
            "Traces the HTTP/1.x traffic of every process on this host with eBPF and exports"
                + " each request/response exchange as an OpenTelemetry span.",
            "",
            "Every option can also be set by its environment variable or in the --config YAML"
                + " file (key = option name without dashes). Precedence: flag, environment, file,"
                + " default.")
        .sortOptions(false);
    for (Setting s : Setting.values()) {
      String env = String.join(", ", s.envVars());
      spec.addOption(
          OptionSpec.builder(s.flag())
              .paramLabel("<" + s.key() + ">")
              .type(String.class)
              .description(
                  s.description()
                      + " (default: "
                      + (s.defaultValue().isEmpty() ? "none" : s.defaultValue())
                      + "; env: "
                      + env
                      + ")")
              .build());
    }
    return spec;
  }

  static String versionString() {
    String v = WirespanCommand.class.getPackage().getImplementationVersion();
    return v == null ? "development build" : v;
  }
}
