package dev.wirespan.agent;

import java.util.logging.LogManager;

/**
 * Keeps logging alive while the agent shuts down. The JDK's LogManager resets (closes every
 * handler) from its own shutdown hook, which runs alongside the agent's: the lines that say what
 * was flushed at exit would be lost. Installed by {@link WirespanCommand#main} through the {@code
 * java.util.logging.manager} property before anything logs.
 */
public final class AgentLogManager extends LogManager {
  @Override
  public void reset() {
    // Handlers stay open until the process ends; the agent never reconfigures logging twice.
  }
}
