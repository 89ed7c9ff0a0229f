namespace NirvanaCluster.Actors.Core;

/// <summary>Supervision: what a failure in a handler, constructor or hook does to the actor.</summary>
internal sealed partial class ActorCell
{
    /// <summary>Applies the supervisor strategy; returns false when the actor is stopping.</summary>
    private async Task<bool> HandleFailureAsync(Exception exception, object? message)
    {
        var strategy = Props.SupervisorStrategy ?? System.Options.DefaultSupervisorStrategy;
        var directive = strategy.Decide(exception);
        var during = message is null ? "while starting" : $"on {message.GetType().Name}";
        Log.Error(exception, "Actor {Path} failed {During}; supervisor says {Directive}", Path, during, directive);
        var failure = $"{exception.GetType().Name}: {exception.Message}";
        switch (directive)
        {
            case Directive.Resume when _actor is not null:
                return true;
            case Directive.Stop:
                RequestStop($"stopped by its supervisor after failing {during}: {failure}");
                return false;
        }

        var now = System.TimeProvider.GetUtcNow();
        _recentFailures.Enqueue(now);
        while (_recentFailures.Count > 0 && now - _recentFailures.Peek() > strategy.Window)
            _recentFailures.Dequeue();
        if (_recentFailures.Count > strategy.MaxRestarts)
        {
            RequestStop($"stopped after {_recentFailures.Count} failures within {strategy.Window} (at most {strategy.MaxRestarts} restarts allowed); last failure {during}: {failure}");
            return false;
        }
        return await RestartAsync(exception, message);
    }

    private async Task<bool> RestartAsync(Exception cause, object? message)
    {
        if (_actor is not null)
        {
            try
            {
                _actor.InvokePreRestart(cause, message);
            }
            catch (Exception e)
            {
                Log.Error(e, "PreRestart of {Path} threw; restarting anyway", Path);
            }
            _actor = null; // its PostStop ran through PreRestart; never call it again
        }
        Timers.CancelAll();
        await StopChildrenAsync("parent restarting");
        try
        {
            _actor = Actor.Create(this, Props.Factory);
            _actor.InvokePostRestart(cause);
            Log.Information("Actor {Path} restarted after {Failure}", Path, cause.Message);
            return true;
        }
        catch (Exception e)
        {
            return await HandleFailureAsync(e, null);
        }
    }
}
