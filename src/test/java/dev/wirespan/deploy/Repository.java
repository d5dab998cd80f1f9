package dev.wirespan.deploy;

import java.nio.file.Path;
import java.nio.file.Paths;

/** Paths inside the repository, independent of the directory the tests run from. */
final class Repository {
  private static final Path ROOT = Paths.get(System.getProperty("basedir", ".")).toAbsolutePath();

  private Repository() {}

  static Path path(String relative) {
    return ROOT.resolve(relative).normalize();
  }
}
