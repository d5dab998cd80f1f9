@ParametersAreNonnullByDefault
package dev.wirespan.http;

import javax.annotation.ParametersAreNonnullByDefault;
