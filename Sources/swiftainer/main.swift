#if canImport(Glibc)
import Glibc
#endif
import CLI

exit(SwiftainerCLI.main(CommandLine.arguments))
