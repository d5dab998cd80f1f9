package dev.wirespan.agent;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** One line per log record on standard error: time, level, component, message. */
final class AgentLogging {
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS").withZone(ZoneId.systemDefault());

  private AgentLogging() {}

  static void configure(Level level) {
    Logger root = Logger.getLogger("");
    for (Handler h : root.getHandlers()) {
      root.removeHandler(h);
    }
    ConsoleHandler handler = new ConsoleHandler(); // standard error: stdout carries console spans
    handler.setLevel(level);
    handler.setFormatter(new LineFormatter());
    root.addHandler(handler);
    root.setLevel(Level.INFO);
    // Our own components at the chosen level; libraries stay at INFO unless debugging.
    Logger.getLogger("dev.wirespan").setLevel(level);
    if (level.intValue() <= Level.FINE.intValue()) {
      root.setLevel(level);
    }
  }

  private static final class LineFormatter extends Formatter {
    @Override
    public String format(LogRecord r) {
      StringBuilder sb = new StringBuilder(160);
      sb.append(TIME.format(Instant.ofEpochMilli(r.getMillis()))).append(' ');
      sb.append(levelName(r.getLevel())).append(' ');
      String logger = r.getLoggerName() == null ? "" : r.getLoggerName();
      sb.append(logger.substring(logger.lastIndexOf('.') + 1)).append(": ");
      sb.append(formatMessage(r)).append('\n');
      if (r.getThrown() != null) {
        StringWriter trace = new StringWriter();
        r.getThrown().printStackTrace(new PrintWriter(trace));
        sb.append(trace);
      }
      return sb.toString();
    }

    private static String levelName(Level level) {
      if (level.intValue() >= Level.SEVERE.intValue()) {
        return "ERROR";
      }
      if (level.intValue() >= Level.WARNING.intValue()) {
        return "WARN ";
      }
      if (level.intValue() >= Level.INFO.intValue()) {
        return "INFO ";
      }
      return "DEBUG";
    }
  }
}
