// Placeholder until the AssemblyScript kernels land: nothing to build yet.
