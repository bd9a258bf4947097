/* placeholder: the naive references land with the library tests. */
