package dev.wirespan.k8s;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import javax.annotation.Nullable;

/** IP address literals from API objects, parsed without ever asking a resolver. */
final class IpLiterals {
  private static final int IPV4_OCTETS = 4;
  private static final int OCTET_MAX = 255;
  private static final InetAddress[] NONE = new InetAddress[0];

  private IpLiterals() {}

  /** The address, or null when the text is not an IP literal (a host name is never resolved). */
  @Nullable
  static InetAddress parse(@Nullable String text) {
    if (text == null || text.isEmpty()) {
      return null;
    }
    if (text.indexOf(':') >= 0) {
      // Only literals reach here; InetAddress parses IPv6 literals without a lookup.
      try {
        return InetAddress.getByName(text);
      } catch (UnknownHostException | SecurityException e) {
        return null;
      }
    }
    byte[] octets = new byte[IPV4_OCTETS];
    int octet = 0;
    int value = -1;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c >= '0' && c <= '9') {
        value = (value < 0 ? 0 : value * 10) + (c - '0');
        if (value > OCTET_MAX) {
          return null;
        }
      } else if (c == '.' && value >= 0 && octet < IPV4_OCTETS - 1) {
        octets[octet++] = (byte) value;
        value = -1;
      } else {
        return null;
      }
    }
    if (octet != IPV4_OCTETS - 1 || value < 0) {
      return null;
    }
    octets[octet] = (byte) value;
    try {
      return InetAddress.getByAddress(octets);
    } catch (UnknownHostException e) {
      return null; // cannot happen for four octets
    }
  }

  /** The addresses among the texts that are IP literals, without duplicates. */
  static InetAddress[] parseAll(@Nullable Iterable<String> texts) {
    if (texts == null) {
      return NONE;
    }
    List<InetAddress> out = new ArrayList<>(2);
    for (String text : texts) {
      InetAddress address = parse(text);
      if (address != null && !out.contains(address)) {
        out.add(address);
      }
    }
    return out.isEmpty() ? NONE : out.toArray(NONE);
  }
}
