package dev.wirespan.agent;

public final class WirespanCommand {
  public static void main(String[] args) {}
}
