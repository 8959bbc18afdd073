/* The pod sandbox process: holds the pod's namespaces open and does nothing else.
 * As PID 1 of the pod it must reap orphaned children and exit cleanly on
 * SIGINT/SIGTERM. Written for Scale Lab's offline kind images (no registry to
 * pull registry.k8s.io/pause from); built with `gcc -static -Os`. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction on_stop = {.sa_handler = stop};
  struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &on_stop, NULL);
  sigaction(SIGTERM, &on_stop, NULL);
  sigaction(SIGCHLD, &on_child, NULL);
  for (;;) pause();
  return 1;
}
