package dev.wirespan.agent;

import java.io.PrintWriter;

/** Wires the pipeline stages and runs them until the process is stopped. */
public final class Agent {
  private Agent() {}

  static int runUntilStopped(AgentConfig config, PrintWriter err) {
    err.println("wirespan-agent: pipeline not wired yet");
    return WirespanCommand.EXIT_START_FAILED;
  }
}
