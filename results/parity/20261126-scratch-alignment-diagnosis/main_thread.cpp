// Experiment: llama-bench with its whole body on a spawned pthread (2 MiB stack, like a Rust thread).
#include <pthread.h>
#include <cstdlib>
int llama_bench(int argc, char ** argv);
struct A { int argc; char ** argv; int rc; };
static void * body(void * p) { A * a = (A *) p; a->rc = llama_bench(a->argc, a->argv); return nullptr; }
int main(int argc, char ** argv) {
    A a{argc, argv, 0};
    pthread_attr_t at; pthread_attr_init(&at);
    const char * ss = getenv("STACK_KB");
    pthread_attr_setstacksize(&at, (ss ? atoi(ss) : 2048) * 1024);
    pthread_t t; pthread_create(&t, &at, body, &a); pthread_join(t, nullptr);
    return a.rc;
}
