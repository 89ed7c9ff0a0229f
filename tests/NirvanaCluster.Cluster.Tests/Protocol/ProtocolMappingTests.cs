using NirvanaCluster.Clustering.Protocol;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Cluster.Tests.Protocol;

/// <summary>The mapping between protocol values and the library's types is total where it must be, and refuses the unknown.</summary>
public class ProtocolMappingTests
{
    [Fact]
    public void Every_method_and_sent_objective_maps_there_and_back()
    {
        foreach (var method in Enum.GetValues<PruningMethod>())
            Assert.Equal(method, ProtocolMapping.FromProto(ProtocolMapping.ToProto(method)));
        foreach (var objective in new[] { ObjectiveKind.SequenceNll, ObjectiveKind.MaxLogit, ObjectiveKind.LanguageModelLoss })
            Assert.Equal(objective, ProtocolMapping.FromProto(ProtocolMapping.ToProto(objective)));
        foreach (var dtype in new[] { Engine.Checkpoints.DType.F32, Engine.Checkpoints.DType.BF16, Engine.Checkpoints.DType.F16 })
            Assert.Equal(dtype, ProtocolMapping.FromProto(ProtocolMapping.ToProto(dtype)));
    }

    [Fact]
    public void Unknown_or_unspecified_values_are_refused_not_reinterpreted()
    {
        Assert.Throws<InvalidDataException>(() => ProtocolMapping.FromProto(Method.Unspecified));
        Assert.Throws<InvalidDataException>(() => ProtocolMapping.FromProto((Method)99));
        Assert.Throws<InvalidDataException>(() => ProtocolMapping.FromProto(Objective.Unspecified));
        Assert.Throws<InvalidDataException>(() => ProtocolMapping.FromProto(DType.Unspecified));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtocolMapping.ToProto(ObjectiveKind.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtocolMapping.ToProto(Engine.Checkpoints.DType.I8));
    }

    [Fact]
    public void Scores_and_kept_units_survive_the_protocol_exactly()
    {
        LayerScores[] scores = [new(3, [0.1, double.Epsilon, 1e300], [1.0 / 3, -0.0]), new(4, [], [7])];
        var back = ProtocolMapping.FromProto(Scores.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(ProtocolMapping.ToProto(scores))));
        Assert.Equal(scores.Select(s => s.Layer), back.Select(s => s.Layer));
        for (var i = 0; i < scores.Length; i++)
        {
            Assert.Equal(scores[i].Attention.Select(BitConverter.DoubleToInt64Bits), back[i].Attention.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(scores[i].Mlp.Select(BitConverter.DoubleToInt64Bits), back[i].Mlp.Select(BitConverter.DoubleToInt64Bits));
        }
        var keep = ProtocolMapping.FromProto(ProtocolMapping.ToProto(new Pruning.Plan.LayerPlan(2, 4, 16, [0, 3], [1, 5, 8], [], [])));
        Assert.Equal(2, keep.Layer);
        Assert.Equal(new[] { 0, 3 }, keep.KeptKvGroups);
        Assert.Equal(new[] { 1, 5, 8 }, keep.KeptMlpNeurons);
    }
}
