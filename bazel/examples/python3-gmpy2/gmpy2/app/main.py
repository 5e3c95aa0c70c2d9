"""Prints a big power computed by GMP, proving gmpy2 and libgmp are in the image."""

import gmpy2

print(gmpy2.mpz(3) ** 100)
