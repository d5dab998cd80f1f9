@ParametersAreNonnullByDefault
package dev.wirespan.span;

import javax.annotation.ParametersAreNonnullByDefault;
