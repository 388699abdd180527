#pragma once
// Clang's thread-safety analysis attributes
// (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html), checked by -Wthread-safety in a clang
// build (ROOTFARM_THREAD_SAFETY_ANALYSIS in CMakeLists.txt). Other compilers see empty macros.
//
//   GUARDED_BY(mu)     a member read or written only with `mu` held
//   PT_GUARDED_BY(mu)  the object a pointer member points to, likewise
//   REQUIRES(mu)       a function its caller calls with `mu` held (exclusively)
//   REQUIRES_SHARED    ... held at least shared
//   EXCLUDES(mu)       a function that takes `mu` itself, so the caller must not hold it

#if defined(__clang__)
#define ROOTFARM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ROOTFARM_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) ROOTFARM_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY ROOTFARM_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) ROOTFARM_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) ROOTFARM_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) ROOTFARM_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) ROOTFARM_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) ROOTFARM_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) ROOTFARM_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) ROOTFARM_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) ROOTFARM_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) ROOTFARM_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) ROOTFARM_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) ROOTFARM_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) ROOTFARM_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) \
    ROOTFARM_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) ROOTFARM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) ROOTFARM_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) ROOTFARM_THREAD_ANNOTATION(assert_shared_capability(x))
#define RETURN_CAPABILITY(x) ROOTFARM_THREAD_ANNOTATION(lock_returned(x))
// For the few functions the analysis cannot follow (a lock handed to a caller); say why at each.
#define NO_THREAD_SAFETY_ANALYSIS ROOTFARM_THREAD_ANNOTATION(no_thread_safety_analysis)
