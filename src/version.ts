/** The software version, reported in capacity records and `--version`. */
export const VERSION = '0.1.0'
